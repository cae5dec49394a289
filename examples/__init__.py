"""Small services that show medusa_auth in use."""
