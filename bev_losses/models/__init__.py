"""mmdet3d-dependent models (heads, detectors). Imported by the registry on look-up only."""
