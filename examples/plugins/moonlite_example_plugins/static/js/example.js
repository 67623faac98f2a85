// served at /plugin/example_blueprint/static/js/example.js
window.moonliteExample = { hello: "from the example blueprint plugin" };
