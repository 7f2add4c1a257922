"""Code that runs in AWS: the org sync Lambda and the small Lambdas the blueprints deploy."""
