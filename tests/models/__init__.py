"""The DynamoDB models: store operations, the endpoint index, the erasure fence, the data inventory."""
