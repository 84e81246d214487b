"""Representation learning: the backbone, images and augmentation, the training loop, the
memories (CTACL's CTAM, VAPC's instance and cluster memories), their losses (one function per
paper equation) and the objectives that combine them."""
