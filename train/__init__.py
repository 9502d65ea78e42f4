"""Training code for MS lesion segmentation with random-convolution augmentation."""
