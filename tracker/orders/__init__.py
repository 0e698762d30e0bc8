"""Collection orders from agencies' systems: results ready at their desks for the post."""
