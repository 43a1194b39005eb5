// The clinic's web frontend: lists a patient's upcoming visits.
const API_URL = process.env.REACT_APP_API_URL || "http://localhost:8080";

export async function upcomingVisits(patientId) {
  const response = await fetch(`${API_URL}/patients/${encodeURIComponent(patientId)}/visits`);
  if (!response.ok) {
    throw new Error(`visits: HTTP ${response.status}`);
  }
  return response.json();
}
