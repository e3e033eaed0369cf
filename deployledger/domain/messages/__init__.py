"""The contract on the wire: deploy request, progress, outcome report and undeploy, their
pydantic models, the report parser and the truncation of long status messages. Pure."""
