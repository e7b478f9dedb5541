"""Label conventions shared by the data side and the callbacks that read batches."""

UNLABELLED = -1  # the label of an image that has none (a folder of new images for `cpt predict`)
