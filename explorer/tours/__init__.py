"""Onboarding tours: guided walks through the architecture along a real order.

Pure core (no Django): tourfile (the file format, validation, export), text (Markdown rendered
and sanitised), generate (a tour from a journey), examples (picking an example order by a
selector). Django side: models, persist (files <-> rows), progress, views, admin.
"""
