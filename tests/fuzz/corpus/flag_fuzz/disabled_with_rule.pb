'
kill*a2bJ
r
keyu-1"Rz
u-1