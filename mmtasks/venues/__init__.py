"""Real exchanges behind the `Venue` port (`mmtasks.venue`); the connector serves one of them."""
