const express = require("express");

const app = express();
app.get("/", (req, res) => res.type("text").send("hello from express\n"));
app.get("/env", (req, res) => res.type("text").send(`${process.env.NODE_ENV}\n`));
app.listen(process.env.PORT || 5000, () => console.log(`listening on ${process.env.PORT}`));
