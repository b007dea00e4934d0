"""Documents received from people: spreadsheets checked for safety, then read."""
