"""Streamlit entry point: `streamlit run frontend/app.py` (or `fraudit dashboard`)."""

from fraudit.dashboard.app import main

main()
