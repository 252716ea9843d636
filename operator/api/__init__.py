"""The ModelDeployment API: typed models, the one source of the CRD schema."""
