"""The OTLP receiver: `manage.py receive` takes spans straight from an OpenTelemetry
Collector (or any OTLP exporter) over OTLP/HTTP and OTLP/gRPC.

Network side (http_server, grpc_server) -> decoding (the project's own parsers) -> a bounded
queue -> one writer thread that commits (writer) -> only then the sender's 200/OK. In `full`
mode spans go into the embedded store exactly as `ingest` writes them; in `index` mode only
the look-ups remote backends cannot answer are kept (index). Layer: above store, sources and
journeys; nothing below imports it.
"""
