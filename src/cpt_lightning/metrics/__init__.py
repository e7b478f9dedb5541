"""torchmetrics Metrics: group accuracies and neural-collapse geometry."""
