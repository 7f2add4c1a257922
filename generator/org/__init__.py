"""The organization as data: load and validate org_roles/, and the pure model the renderers read."""
