"""serverless-im: the code that ships in the Lambda bundle (handlers, models, data layer)."""
