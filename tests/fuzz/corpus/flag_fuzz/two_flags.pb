‘
orders	two flagsteam-orders"payments"team:orders*postgres-orders2dynamodb-orders8J-
a
keyu-1
planfree"

 R 
users*mysql2spanner8Rz
u-1
plangold