"""Hand-over records (biên bản giao nhận) between the post and the agencies."""
