"""The look of a diagram: its font, colours and the sizes of the places reserved for overlay
text, shared by the layout, the labels and the drawing."""

from __future__ import annotations

FONT = "Helvetica"
FILL = {
    "person": "#08427B",
    "software_system": "#1168BD",
    "container": "#438DD5",
    "database": "#438DD5",
    "queue": "#438DD5",
    "component": "#85BBF0",
}
EXTERNAL_FILL = "#999999"
DIMMED_FILL = "#E9ECEF"
DIMMED_TEXT = "#495057"
STEP_COLOUR = "#1864AB"
WARNING_COLOUR = "#E8590C"
STOP_COLOUR = "#D6336C"
TYPICAL_COLOUR = "#B197FC"  # the typical path, drawn under the order's own calls
SEVERITY_COLOUR = {
    "info": "#495057",
    "state": "#2B8A3E",
    "warning": "#E8590C",
    "sla": "#C2255C",
    "anomaly": "#7048E8",
    "error": "#C92A2A",
    "violation": "#C92A2A",
    "stop": STOP_COLOUR,
}
# Overlay text has places of its own, reserved in the layout so that dot keeps everything
# else clear of them: a band of NOTE_LINES lines at the bottom of every container (its notes:
# where it stopped, states, errors, SLA, anomalies) and SUMMARY_LINES lines under every
# relationship's label (the order's calls on it, aggregated). Nothing is ever placed beside.
LINE = 12  # points per 9-point line
NOTE_LINES = 3
NOTE_WIDTH = 170
SUMMARY_LINES = 4
SUMMARY_WIDTH = 160
DESCRIPTION_CHARS = 30  # the model's descriptions are wrapped to lines of this many characters
RELATIONSHIP_CHARS = 26
SIDE_MARGIN = 24
END_MARGIN = 16
TITLE_BAND = 32
TYPE_NAME = {
    "person": "Person",
    "software_system": "Software System",
    "container": "Container",
    "database": "Container",
    "queue": "Container",
    "component": "Component",
}
NOTE_ORDER = ("stop", "violation", "error", "sla", "anomaly", "warning", "state", "info")
TOOLTIP_LINES = 40
