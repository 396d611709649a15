"""Login with Amazon, the grant lifecycle and the Event Gateway client (skill/amazon/ after the move)."""
