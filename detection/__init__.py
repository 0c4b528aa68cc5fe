"""Person detectors for the visual front end, behind one interface (`detection.base.Detector`) and a name ->
backend registry (`detection.base.backend_names`, `detection.base.build_detector`). Backends import their heavy
dependencies (torchvision models, mmdet) only when built."""
