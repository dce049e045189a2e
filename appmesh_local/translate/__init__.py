"""App Mesh semantics → IR: pure functions over a MeshSnapshot (plus a reusable memo)."""

from appmesh_local.translate.mesh import Translator, translate_mesh
from appmesh_local.translate.options import TranslateOptions

__all__ = ["TranslateOptions", "Translator", "translate_mesh"]
