"""Run Airbyte-protocol connectors from Python and SQLFlow."""
