"""The inference API: validate -> score -> decide -> publish, behind a Chalice app."""
