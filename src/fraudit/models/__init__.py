"""Training, evaluation, artifacts and the local SageMaker-compatible model server."""
