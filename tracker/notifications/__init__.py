"""Messages to citizens (SMS, e-mail) on the status changes they care about."""
