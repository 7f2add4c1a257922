"""The application Lambdas the blueprints deploy (ECS deploy, cost guard) and the app deploy command."""
