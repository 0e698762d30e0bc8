"""Status out: every applied status change of an agency's dossiers, in one payload with the
national one-stop fields (`payload`), pushed as signed webhooks to the agency's subscriptions
(`operations` writes the deliveries with the change, `delivery` sends them from the workers) or
pulled from `GET /api/v1/changes` (`queries`)."""
