"""Traffic simulator: replays a card-transaction dataset against POST /predict."""
