"""Identity resolution over business objects → order journeys, their milestones, durations and anomalies."""
