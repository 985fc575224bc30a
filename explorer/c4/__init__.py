"""The C4 model: loaders (draw.io, C4-PlantUML, Structurizr), telemetry mapping and drift.

The modules model, drawio, plantuml, structurizr, loader, mapping and drift are framework-free;
models, admin and rules are the Django side (mapping rules editable in the admin).
"""
