"""The Streamlit dashboard: queries (pure SQL with parameters), a store that runs them, and
the app layout."""
