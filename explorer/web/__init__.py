"""The web explorer: thin views over the pure core, server-rendered templates."""
