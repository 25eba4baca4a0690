"""Reading stores: the embedded SQLite history, the crash-safe outbox and InfluxDB sinks."""
