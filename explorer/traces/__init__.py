"""The normalised trace model and the parsers that fill it. No Django imports here."""
