"""Resource pieces the blueprints share, one module per concern; blueprints import from the concern module."""
