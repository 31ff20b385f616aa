j
orders*postgres-orders2dynamodb-orders8J8
not-blocked
region	us-east-1"
І
ІRz
u-1
region	eu-west-1z
u-3
region	us-east-1