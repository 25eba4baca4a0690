"""Server-rendered web pages for operators: overview, alarms with acknowledge, trends."""
