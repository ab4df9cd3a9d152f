"""The Streamlit dashboard: `streamlit run dashboard/app.py`. Pages and widgets only."""
