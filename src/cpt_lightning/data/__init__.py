"""LightningDataModules for the benchmarks, few-shot / base-to-new / long-tail sampling, transforms."""
