"""`prefstream simulate`: realistic mixed traffic through every touchpoint adapter's real interface."""
