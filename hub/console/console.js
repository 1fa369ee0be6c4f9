// The console's placeholder page: the agents, listed through the admin
// API with the session's cookie (GET needs no CSRF token). ES5 only.
(function () {
	"use strict";
	var status = document.getElementById("status");
	var table = document.getElementById("agents");
	function cell(row, text) {
		var td = document.createElement("td");
		td.textContent = text;
		row.appendChild(td);
	}
	var xhr = new XMLHttpRequest();
	xhr.open("GET", "/api/v1/agents");
	xhr.onload = function () {
		if (xhr.status === 401) {
			window.location.reload();
			return;
		}
		if (xhr.status !== 200) {
			status.textContent = "The agents could not be listed (" + xhr.status + ").";
			return;
		}
		var agents = JSON.parse(xhr.responseText).agents;
		var body = table.tBodies[0];
		for (var i = 0; i < agents.length; i++) {
			var a = agents[i], row = document.createElement("tr");
			cell(row, a.id);
			cell(row, a.name || "");
			cell(row, a.state);
			cell(row, a.version || "");
			cell(row, a.last_seen ? new Date(a.last_seen).toLocaleString() : "never");
			body.appendChild(row);
		}
		status.textContent = agents.length + (agents.length === 1 ? " agent" : " agents");
		table.hidden = false;
	};
	xhr.onerror = function () { status.textContent = "The hub could not be reached."; };
	xhr.send();
}());
