"""Deprecated name of :mod:`gf_env.image_folders` (the ids over image folders: ImageNet,
Imagenette, any folder); import from there. Ids registered with the old entry points
(``"gf_env.imagenet:make_folder_env"``) still build."""

from classifiers.utils import moved_module

__getattr__ = moved_module(__name__, "gf_env.image_folders")
