"""Lightning callbacks: the cluster-invariant space computed at fit start."""
