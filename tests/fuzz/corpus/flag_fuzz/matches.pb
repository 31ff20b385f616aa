X
orders*postgres-orders2dynamodb-orders8J&
re
key
^u-[0-9]+$(a|b)*c"Rz
u-42z
x-abc