"""The OTLP receiver: `manage.py receive` takes spans straight from an OpenTelemetry
Collector (or any OTLP exporter) over OTLP/HTTP and OTLP/gRPC.

Network side (http_server, grpc_server) -> checks and a turn (service) -> a writer process
(writers) that decodes with the project's own parsers (decoding), prepares and commits
(storing) -> only then the sender's 200/OK. In `full` mode spans go into the embedded store
exactly as `ingest` writes them; in `index` mode only the look-ups remote backends cannot
answer are kept (index). Layer: above store, sources and
journeys; nothing below imports it.
"""
