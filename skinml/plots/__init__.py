"""Plotly figures for the dashboard: functions that return figures, never call Streamlit."""
