ï
orders*postgres-orders2dynamodb-orders8J-
eq#
app_version1.2.3-rc.1+build.5"J!
lt
app_versionv1.0.0"J&
le
app_version1.1.0-alpha"J 
gt
app_version	2.0.0"J!
ge
app_version
1.02.0"Rz 
u-1
app_version
1.2.3-rc.1z
u-2
app_version0.9.9z"
u-3
app_version3.0.0-beta.2